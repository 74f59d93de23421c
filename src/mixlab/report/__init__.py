"""Reports: the plots and the self-contained HTML file."""
