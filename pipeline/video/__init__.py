"""Video: style transfer of clips that holds still where the scene does (see
:mod:`~pipeline.video.transfer`), with regions that follow the motion.

- :mod:`~pipeline.video.clip`: clips in and out (PyAV): checked first, streamed, rotation,
  timestamps, audio copied, H.264 MP4 written atomically; folders of frames.
- :mod:`~pipeline.video.flow`: optical flow (OpenCV DIS, Farnebäck), the forward–backward
  consistency check (certainty), warping.
"""
