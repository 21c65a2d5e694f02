"""Per-frame side of MER Live: sources, view split, face crops, optical flow, spotting, sinks."""
