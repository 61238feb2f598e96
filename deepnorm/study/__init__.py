"""The study: the experiments of Tables 2-7, their figures, the paper's numbers, the claims, the report and ``reproduce``."""
