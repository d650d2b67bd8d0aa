"""DragGAN-style point editing on SpatialGAN models (paper Sec. 3.4).

Not built yet: the engine (motion supervision, point tracking, joint latent + heatmap-centre optimisation,
coarse-to-fine hybrid) is tracked in its own issue. Depends on `spatialgan` only, never on `app`.
"""
