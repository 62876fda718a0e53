"""User media: uploads and URL imports, checked and normalised before anything uses them."""
