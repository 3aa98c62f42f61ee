"""The quality training recipe's default shares and seed, in a module of its own so that the command
line can show them as defaults without loading the training code.

The shipped quality model (format /7) is one run of these defaults at ``QUALITY_SEED``, as ``backdrop
train quality`` writes it. One run is one draw: runs at other seeds, or a second run at the same
seed (x264's file-style encodes are not deterministic, README), rank real footage a hundredth or two
apart, so compare recipes over several seeds, or by the figure with each video calibrated that the
real-footage probe prints. Each share's measurements, and the recipes measured and not adopted,
are in ``QUALITY_RECORD.md`` beside this module, section 3."""

QUALITY_SEED = 8
"""``backdrop train quality``'s default seed: the shipped model's (``QUALITY_RECORD.md``, section 3)."""
COMPRESSION_SEED = 7
"""``backdrop train compression``'s default seed: the shipped compression model's."""
BLOCK_NETWORKS = 1
"""Block networks in the quality model (``--networks``): one since the chroma features (format /7);
``quality_fit.FitConfig.networks`` says why."""
FILE_SHARE = 0.35
"""Share of training clips from file-style senders (B-frames, look-ahead, periodic keyframes). A model
trained on real-time senders alone ranked file-style encodes at Spearman 0.74 (0.90 on real-time ones,
``backdrop evaluate``); trained with them, 0.87 on file-style and 0.91 on real-time encodes."""
FIXED_CLIPS = 1500
"""Training clips of stills seen by a fixed camera (besides the moving-camera ones). Without them,
held-out fixed-camera frames ranked at Spearman 0.67; with them 0.88, and moving-camera frames held
their 0.89 (``backdrop evaluate``; 3000 instead of 1500 gave no further gain, nor did more of them
from the libraries' default senders: ``QUALITY_RECORD.md``, section 3)."""
COMPRESSED_SOURCE_SHARE = 0.15
"""Share of training clips whose source frames went through JPEG or WebP before the sender's encoder
(a webcam's MJPEG stream, a re-shared picture): blocky or ringing originals, whose artefacts are not
the sender's loss. On 120 held-out clips with such sources the model trained with them ranked frames
at Spearman 0.897 (0.908 for the tracker) against 0.892 (0.893) without; on ``backdrop evaluate``'s
usual clips the two were within 0.007 of each other."""
TEXTURE_SHARE = 0.15
"""Share of training clips showing a generated texture: without them, frames that are texture from edge
to edge (foliage, gravel) lie outside what the model saw and their loss was overestimated tenfold."""
GRAPHICS_SHARE = 0.10
"""Share of training clips showing generated flat graphics (``graphics``: screens and animation,
noiseless, with sprites moving over them). Their flat blocks lost nothing, where a webcam's flat
blocks may have lost noise and texture: without them the estimator overestimated real screen shares
and animation several times over (a screen share's flat blocks, true loss 0.0001, at 0.005-0.15;
``QUALITY_RECORD.md``, section 3)."""
GRAIN_SHARE = 0.10
"""Share of training clips with heavy camera noise (``ClipSpec.grain``: standard deviation 3-6 grey
levels, a dim room or a cheap sensor; ``Motion.random`` draws at most 2). Together with
``GRAPHICS_SHARE`` it lifted the real-footage probe from 0.814 to 0.871 (320x240 from 0.673 to
0.835); a larger share overestimated the screen share (``QUALITY_RECORD.md``, section 3)."""
VIDEO_SOURCE_SHARE = 0.2
"""Share of training clips whose source went through a video encoder first (``ClipSpec.source_codec``
"h264" or "vp8", at 0.05-0.5 bits per pixel and half to one and a half times the clip's size), as
all real footage has before a tester resizes and re-encodes it: its noise and finest detail are
gone, which the codec then cannot lose. With ``BARS_SHARE``, over three seeds, the real-footage
probe ranks frames at 0.860 on average against 0.822 without either (``QUALITY_RECORD.md``,
section 3)."""
BARS_SHARE = 0.1
"""Share of training clips with black bars (``ClipSpec.bars``: letterbox or pillarbox), digital black:
the real-footage probe's screen share has black pillarbox bars and a black terminal, whose exactly
flat blocks (true loss about 0.0001) the model before put at 0.01-0.17. Measured only together with
``VIDEO_SOURCE_SHARE`` (``QUALITY_RECORD.md``, section 3)."""
HEAD_TREES = 300
"""Gradient-boosted trees in the frame head beside its networks (``--head-trees``; 0: networks only),
fitted apart on keyframes and on inter frames (``quality_fit.FitConfig.keyframe_trees``). They lifted
the real-footage probe from 0.876 to 0.889, the library-defaults probe from 0.715 to 0.726 and unseen
photographs from 0.959 to 0.971, for 0.05 ms per 640x480 frame; 1000 trees took ``estimate_quality``
over 2 ms (``QUALITY_RECORD.md``, section 3)."""
TREE_LEARNING_RATE = 0.15
"""The frame head's trees' learning rate (``--tree-learning-rate``): each tree's step. 300 trees at
0.15 rank as 1000 at 0.05 do and walk in a third of the time, 0.05-0.06 ms per 640x480 frame on one
core (``QUALITY_RECORD.md``, section 3)."""
