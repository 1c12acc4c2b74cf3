"""The local server's media side: no HTTP in it.

``hls`` (FFmpeg: probe, decode, cut once into HLS renditions; playlists built from their
segments), ``ingest`` (a file in, a stored rendition and transcript out), ``transcript``
(WebVTT/SRT cues), ``ranking`` (clip prompts answered from a transcript), ``demo`` (the
generated demo videos).
"""
