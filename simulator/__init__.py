"""Link models and fleet scenarios on a virtual clock, plus a real-time mode."""
