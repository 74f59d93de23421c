"""The CLI's command groups; each module only parses, calls one function below, and prints."""
