"""The farm's inputs as data: recipes, platforms, build locks, loaded and validated."""
