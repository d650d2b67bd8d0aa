"""The Dear PyGui view of the editor: the only package that imports dearpygui."""
