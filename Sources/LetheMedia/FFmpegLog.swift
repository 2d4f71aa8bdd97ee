import CFFmpeg

/// FFmpeg's stderr logging. Its level is process-wide (FFmpeg keeps it in one global), so this
/// is for the executable to set once at start-up, e.g. `.error` to hide x264's per-file banner,
/// not for library code to change behind its caller's back.
public enum FFmpegLog {
    public enum Level: Int32, Sendable {
        case quiet = -8
        case panic = 0
        case fatal = 8
        case error = 16
        case warning = 24
        case info = 32
        case verbose = 40
        case debug = 48
    }

    public static var level: Level {
        get {
            let raw = av_log_get_level()
            // Levels between the named ones are reported as the next quieter named level.
            return [Level.debug, .verbose, .info, .warning, .error, .fatal, .panic].first { $0.rawValue <= raw } ?? .quiet
        }
        set { av_log_set_level(newValue.rawValue) }
    }
}
