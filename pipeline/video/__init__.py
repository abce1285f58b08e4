"""Video: style transfer of clips that holds still where the scene does (see
:mod:`~pipeline.video.transfer`), with regions that follow the motion.

- :mod:`~pipeline.video.clip`: clips in (PyAV): checked first, streamed, rotation, timestamps;
  folders of frames. :mod:`~pipeline.video.mp4`: clips out, H.264 MP4 written atomically, the same
  bytes on any machine. :mod:`~pipeline.video.audio`: the sound copied packet for packet, as far
  from the pictures as it was.
- :mod:`~pipeline.video.flow`: optical flow (OpenCV DIS, Farnebäck), the forward–backward
  consistency check (certainty), where the frames agree along it, warping;
  :mod:`~pipeline.video.revealed`: what the motion revealed, started from its stylised surroundings.
- :mod:`~pipeline.video.temporal`: the warm start and the temporal loss (Ruder et al. 2016);
  :mod:`~pipeline.video.transfer`: frame after frame, resumable.
- :mod:`~pipeline.video.masks`, :mod:`~pipeline.video.keyframes`: label maps carried along the
  flow from keyframe masks.
- :mod:`~pipeline.video.run`: ``stylesnake video`` (a clip in, a clip out);
  :mod:`~pipeline.video.fast`: the same through a fast-style network (``--model``), and
  :mod:`~pipeline.video.instant` through instant style (``--style --instant``);
  :mod:`~pipeline.video.segments`: a long clip as separate jobs, joined without a seam.
"""
