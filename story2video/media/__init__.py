"""Media handling: FFmpeg location and invocation, probing, subtitles, composition, fonts."""
