#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/error.h>

// Function-like macros Swift cannot import.
static inline int lethe_averror(int e) { return AVERROR(e); }
static inline int lethe_averror_eof(void) { return AVERROR_EOF; }
static inline int64_t lethe_av_nopts_value(void) { return AV_NOPTS_VALUE; }
