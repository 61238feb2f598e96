"""Static figures (matplotlib/seaborn), one function per figure of the paper."""
