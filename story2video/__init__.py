"""Story2Video: script to storyboard to keyframes to clips to narrated MP4."""

__version__ = "0.1.0"
