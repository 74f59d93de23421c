"""Studies that plan runs and read their results: phase transitions, learning dynamics."""
