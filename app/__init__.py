"""The desktop editor (Dear PyGui). Only this package imports GUI libraries."""
