#!/usr/bin/env python3
"""Launch the SpatialGAN editor on the bundled default checkpoint: `python run_gui.py [--help]`."""

from app.main import main

if __name__ == "__main__":
    raise SystemExit(main())
