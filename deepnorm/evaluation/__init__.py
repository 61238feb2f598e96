"""A trained run at work: full-volume evaluation (Tables 2-7) and normalize/segment on your own scans."""
