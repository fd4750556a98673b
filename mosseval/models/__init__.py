"""Model backends. Import nothing heavy here: see ``registry``."""
