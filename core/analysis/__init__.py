"""Looking inside trained models: gradients through time, gates, live predictions, the memory horizon."""
