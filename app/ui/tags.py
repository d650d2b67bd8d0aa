"""The editor's widget tags that more than one module names: the layout makes the widgets, the navigation reads
the text fields, the test hook reports where the buttons are. One list, so a renamed widget is renamed once."""

# Fields the user types into: while one has the keyboard, letters are text, not shortcuts.
TEXT_INPUTS = ("model_path", "seed", "lr", "max_steps", "folder", "session_path", "export_path", "history_path",
               "refine_video_path", "photo_path")
# Widgets the real-window tests click: their on-screen rectangles go into the test hook's state.
CLICKABLE = ("refine_run", "refine_stop", "clear_points", "undo", "redo", "paint_mask", "clear_mask", "model_path",
             "open_model", "smooth_image", "history_path", "export_history", "photo_path", "open_photo", "session_path",
             "save_session", "load_session", "seed", "folder", "export_path", "export_png", "model_pick",
             "refine_video_path", "export_refine", "help_button")
OPTIONAL = ("carry", "show_centres", "show_attention", "object_tool", "object_refine",
            "remove_object")  # widgets only some models have
# Fields whose text the test hook reports.
FILE_INPUTS = ("history_path", "export_path", "session_path", "model_path", "photo_path", "folder", "refine_video_path")
