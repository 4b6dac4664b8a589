"""What a run reports while it trains: events, their sinks and trackers, GPU facts, notices, smoothing, ETA."""
