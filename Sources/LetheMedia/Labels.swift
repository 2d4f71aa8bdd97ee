// Text on frames: comparison clips put the model name and prompt above each column so a grid
// viewed months later still says what it shows.

extension RGBFrame {
    /// Draws one line of text with its top-left corner at (x, y); pixels outside the frame are
    /// skipped, so long text is clipped rather than wrapped.
    public mutating func draw(text: String, x: Int, y: Int, color: RGBColor, scale: Int = 1,
                              font: BitmapFont = .standard) {
        precondition(scale >= 1, "text scale must be at least 1, got \(scale)")
        var originX = x
        for c in text {
            for gy in 0..<font.glyphHeight {
                for gx in 0..<font.glyphWidth where font.isLit(c, x: gx, y: gy) {
                    fill(x: originX + gx * scale, y: y + gy * scale, width: scale, height: scale, color: color)
                }
            }
            originX += font.advance * scale
        }
    }
}

/// Breaks text into lines that fit a column.
public enum TextLayout {
    /// Word-wraps `text` into at most `maxLines` lines of at most `columns` characters. Words
    /// longer than a line are split; text that does not fit ends in "..." on the last line.
    public static func wrap(_ text: String, columns: Int, maxLines: Int) -> [String] {
        guard columns > 0, maxLines > 0 else { return [] }
        var lines: [String] = []
        var current = ""
        var words = text.split(whereSeparator: { $0.isWhitespace }).map(String.init)[...]
        while let word = words.first {
            if current.isEmpty {
                if word.count <= columns {
                    current = word
                    words.removeFirst()
                } else {
                    lines.append(String(word.prefix(columns)))
                    words[words.startIndex] = String(word.dropFirst(columns))
                }
            } else if current.count + 1 + word.count <= columns {
                current += " " + word
                words.removeFirst()
            } else {
                lines.append(current)
                current = ""
            }
            if lines.count == maxLines { break }
        }
        if !current.isEmpty && lines.count < maxLines {
            lines.append(current)
            current = ""
        }
        let truncated = !words.isEmpty || !current.isEmpty
        if truncated, let last = lines.popLast() {
            lines.append(ellipsized(last, columns: columns))
        }
        return lines
    }

    /// One line cut to `columns` characters, ending in "..." when anything was cut.
    public static func truncate(_ text: String, columns: Int) -> String {
        let flat = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        return flat.count <= columns ? flat : ellipsized(String(flat.prefix(columns)), columns: columns)
    }

    private static func ellipsized(_ line: String, columns: Int) -> String {
        let dots = String(repeating: ".", count: min(3, columns))
        return String(line.prefix(columns - dots.count)) + dots
    }
}

/// Colours and sizes of the label bars above comparison columns.
public struct LabelStyle: Sendable {
    public var titleColor: RGBColor = .yellow
    public var captionColor: RGBColor = .white
    public var background: RGBColor = RGBColor(24, 24, 24)
    public var scale: Int = 1
    /// Empty pixels around the text inside the bar.
    public var margin: Int = 3
    public var maxCaptionLines: Int = 3
    public var font: BitmapFont = .standard

    public init() {}
}

/// One column of a comparison clip: the model that made the frames and the prompt it was given.
public struct LabelledColumn: Sendable {
    public var title: String
    public var caption: String
    public var frames: [RGBFrame]

    public init(title: String, caption: String, frames: [RGBFrame]) {
        self.title = title
        self.caption = caption
        self.frames = frames
    }
}

extension LabelStyle {
    /// The text lines for a bar `width` pixels wide: the title on one line, the caption wrapped.
    func lines(title: String, caption: String, width: Int) -> (title: String, caption: [String]) {
        let columns = font.columns(fitting: width - 2 * margin, scale: scale)
        return (TextLayout.truncate(title, columns: columns),
                TextLayout.wrap(caption, columns: columns, maxLines: maxCaptionLines))
    }

    func barHeight(lineCount: Int) -> Int {
        lineCount == 0 ? 0 : 2 * margin + (lineCount * font.lineHeight - (font.lineHeight - font.glyphHeight)) * scale
    }

    /// A bar `width` pixels wide showing `title` and `caption`, `lineCount` lines tall so bars of
    /// neighbouring columns line up even when their captions wrap differently.
    public func bar(title: String, caption: String, width: Int, lineCount: Int? = nil) -> RGBFrame {
        let (titleLine, captionLines) = lines(title: title, caption: caption, width: width)
        let all = (titleLine.isEmpty ? [] : [(titleLine, titleColor)]) + captionLines.map { ($0, captionColor) }
        let height = max(1, barHeight(lineCount: max(lineCount ?? all.count, all.count)))
        var bar = RGBFrame(width: width, height: height, fill: background)
        for (i, (text, color)) in all.enumerated() {
            bar.draw(text: text, x: margin, y: margin + i * font.lineHeight * scale, color: color, scale: scale,
                     font: font)
        }
        return bar
    }
}

extension RGBFrame {
    /// This frame with a label bar on top showing `title` and the wrapped `caption`.
    public func labelled(title: String, caption: String = "", style: LabelStyle = LabelStyle()) -> RGBFrame {
        if title.allSatisfy(\.isWhitespace) && caption.allSatisfy(\.isWhitespace) { return self }
        return RGBFrame.vconcat([style.bar(title: title, caption: caption, width: width), self])
    }
}

/// Frames of a side-by-side comparison: each column gets a label bar with its title and caption,
/// all bars equally tall. Columns shorter than the longest hold their last frame.
public func comparisonClip(_ columns: [LabelledColumn], spacing: Int = 4, style: LabelStyle = LabelStyle(),
                           background: RGBColor = .black) -> [RGBFrame] {
    precondition(!columns.isEmpty && columns.allSatisfy { !$0.frames.isEmpty }, "every column needs frames")
    let lineCount = columns.map { column -> Int in
        let (title, caption) = style.lines(title: column.title, caption: column.caption,
                                           width: column.frames[0].width)
        return (title.isEmpty ? 0 : 1) + caption.count
    }.max()!
    let bars = columns.map {
        style.bar(title: $0.title, caption: $0.caption, width: $0.frames[0].width, lineCount: lineCount)
    }
    let length = columns.map(\.frames.count).max()!
    return (0..<length).map { t in
        let cells = zip(columns, bars).map { column, bar in
            RGBFrame.vconcat([bar, column.frames[min(t, column.frames.count - 1)]], background: background)
        }
        return RGBFrame.hconcat(cells, spacing: spacing, background: background)
    }
}
