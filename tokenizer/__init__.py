"""arvid.tokenizer: a MAGVIT-v2-style causal 3D VQ tokenizer (FSQ codes, as both shipped ones; or MAGVIT-v2's LFQ).

    from arvid.tokenizer import VideoTokenizer
    tokenizer = VideoTokenizer.from_pretrained("path/to/folder")
    codes = tokenizer.encode(video)      # (b, 3, t, h, w) in [-1, 1] -> (b, t', h', w') int64
    video = tokenizer.decode(codes)      # -> (b, 3, t, h, w)
"""

from arvid.tokenizer.config import TokenizerConfig
from arvid.tokenizer.model import (StreamingDecoder, StreamingEncoder, TokenizerOutput, VideoTokenizer,
                                   frames_to_video, video_to_frames)

__all__ = ["StreamingDecoder", "StreamingEncoder", "TokenizerConfig", "TokenizerOutput", "VideoTokenizer",
           "frames_to_video", "video_to_frames"]
