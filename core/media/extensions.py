"""File name endings taken for media when a directory or a feed is read (ffmpeg reads more).

A module of its own, without numpy, so resolving inputs and `--help` stay light."""

from __future__ import annotations

_AUDIO = ".aac .ac3 .aif .aifc .aiff .amr .ape .au .caf .dts .eac3 .flac .m4a .m4b .mka .mp2"
_AUDIO += " .mp3 .mpc .mpga .oga .ogg .opus .ra .snd .spx .tta .wav .weba .wma .wv"
_VIDEO = ".3g2 .3gp .asf .avi .divx .dv .f4v .flv .m2ts .m4v .mkv .mov .mp4 .mpe .mpeg .mpg"
_VIDEO += " .mts .mxf .nut .ogv .qt .rm .rmvb .ts .vob .webm .wmv"
MEDIA_EXTENSIONS: frozenset[str] = frozenset((_AUDIO + " " + _VIDEO).split())
