// Every file Lethe writes appears whole or not at all: write a temporary file beside the
// target, flush it, then rename over the target (rename is atomic within one filesystem).

import Foundation

public enum FileWriteError: Error, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)
    public var description: String {
        switch self { case let .cannotWrite(path, reason): return "\(path): cannot write: \(reason)" }
    }
}

/// Writes `data` to `url` atomically, creating the parent directory if needed.
public func writeAtomically(_ data: Data, to url: URL) throws {
    try writeAtomically(to: url) { tmp in try data.write(to: tmp) }
}

/// Removes temporary files that `writeAtomically(to: url)` left when its process was killed
/// mid-write (a killed run cannot clean up after itself; the next run for the same file does).
public func removeStaleTemporaries(of url: URL) {
    let fm = FileManager.default
    let dir = url.deletingLastPathComponent()
    let prefix = ".\(url.lastPathComponent).tmp-"
    for name in (try? fm.contentsOfDirectory(atPath: dir.path)) ?? [] where name.hasPrefix(prefix) {
        // Another live process writing the same file is an error of the caller's (one run per checkpoint).
        try? fm.removeItem(at: dir.appendingPathComponent(name))
    }
}

/// Calls `write` with a temporary path beside `url`, then renames it into place. On any error the
/// temporary file is removed and the target is left as it was.
public func writeAtomically(to url: URL, _ write: (URL) throws -> Void) throws {
    let fm = FileManager.default
    let dir = url.deletingLastPathComponent()
    do {
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
    } catch {
        throw FileWriteError.cannotWrite(path: url.path, reason: "cannot create directory \(dir.path)")
    }
    let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    do {
        try write(tmp)
        let fd = open(tmp.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        if rename(tmp.path, url.path) != 0 {
            throw FileWriteError.cannotWrite(path: url.path, reason: String(cString: strerror(errno)))
        }
    } catch {
        try? fm.removeItem(at: tmp)
        if error is FileWriteError { throw error }
        throw FileWriteError.cannotWrite(path: url.path, reason: "\(error.localizedDescription)")
    }
}

/// Calls `write` with an empty staging folder beside `directory`, then moves it into place
/// (replacing an older folder of that name only once the new one is whole, unless
/// `replaceExisting` is false: then an existing folder is an error). On any error the staging
/// folder is removed and `directory` is left as it was.
public func writeDirectoryAtomically(to directory: URL, replaceExisting: Bool = true, _ write: (URL) throws -> Void) throws {
    let fm = FileManager.default
    let parent = directory.deletingLastPathComponent()
    try fm.createDirectory(at: parent, withIntermediateDirectories: true)
    let staging = parent.appendingPathComponent(".\(directory.lastPathComponent).partial-\(getpid())")
    try? fm.removeItem(at: staging)
    do {
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        try write(staging)
        if replaceExisting && fm.fileExists(atPath: directory.path) {
            let old = parent.appendingPathComponent(".\(directory.lastPathComponent).old-\(getpid())")
            try fm.moveItem(at: directory, to: old)
            try fm.moveItem(at: staging, to: directory)
            try? fm.removeItem(at: old)
        } else {
            try fm.moveItem(at: staging, to: directory)
        }
    } catch {
        try? fm.removeItem(at: staging)
        throw error
    }
}
