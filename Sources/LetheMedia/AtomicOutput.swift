import Foundation

/// A temporary file beside the destination that replaces it only once complete, so a crash or
/// error never leaves a truncated video where a previous good one (or nothing) was.
struct AtomicOutput {
    let destination: URL
    let temporary: URL

    init(_ destination: URL) {
        self.destination = destination
        let directory = destination.deletingLastPathComponent()
        let ext = destination.pathExtension
        // Same directory keeps rename(2) atomic; keeping the extension lets tools probe the file.
        let name = ".\(destination.deletingPathExtension().lastPathComponent).tmp-\(UUID().uuidString.prefix(8))"
        temporary = directory.appendingPathComponent(ext.isEmpty ? name : "\(name).\(ext)")
    }

    var path: String { destination.path }

    /// Fails early with the destination's name when its directory is missing, instead of a
    /// message about a temporary file the caller never asked for.
    func checkDirectory() throws {
        var isDirectory: ObjCBool = false
        let directory = destination.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw MediaError(path: path, operation: "cannot write",
                             reason: "directory \(directory) does not exist")
        }
    }

    func commit() throws {
        guard rename(temporary.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            discard()
            throw MediaError(path: path, operation: "moving the finished file into place", reason: reason)
        }
    }

    func discard() {
        unlink(temporary.path)
    }

    func write(_ data: Data) throws {
        try checkDirectory()
        do {
            try data.write(to: temporary)
        } catch {
            discard()
            throw MediaError(path: path, operation: "cannot write", reason: error.localizedDescription)
        }
        try commit()
    }
}
