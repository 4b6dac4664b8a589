"""Running over several processes: process groups, the launcher, detached runs."""
