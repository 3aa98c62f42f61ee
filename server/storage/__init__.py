"""Where backgrounds come from (built-ins now; the uploaded-background store joins here)."""
