// Recipes (training and erasure settings) are YAML files decoded into Codable structs. Decoding
// is strict — a key the recipe type does not know is an error, not a silently ignored typo — and
// every error names the file and the key path.

import Foundation
import Yams

public struct RecipeError: Error, CustomStringConvertible {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}

/// A recipe type lists its keys so unknown ones can be reported.
public protocol Recipe: Codable {
    static var keys: [String] { get }
}

extension Recipe {
    /// The recipe as JSON with sorted keys: what a training checkpoint records, so that resuming
    /// with other settings is refused.
    public var sortedJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

public enum RecipeLoader {
    public static func load<R: Recipe>(_ type: R.Type, from url: URL) throws -> R {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw RecipeError(file: url.path, "cannot read the file")
        }
        return try decode(type, yaml: text, file: url.path)
    }

    public static func decode<R: Recipe>(_ type: R.Type, yaml text: String, file: String) throws -> R {
        let node: Any?
        do {
            node = try Yams.load(yaml: text)
        } catch {
            throw RecipeError(file: file, "not valid YAML (\(String(describing: error).split(separator: "\n").first ?? ""))")
        }
        guard let dict = node as? [String: Any] else {
            throw RecipeError(file: file, "expected a mapping of settings at the top level")
        }
        let unknown = dict.keys.filter { !R.keys.contains($0) }.sorted()
        if let first = unknown.first {
            throw RecipeError(file: file, "unknown key '\(first)' (known keys: \(R.keys.sorted().joined(separator: ", ")))")
        }
        do {
            return try YAMLDecoder().decode(R.self, from: text)
        } catch let error as DecodingError {
            throw RecipeError(file: file, describe(error))
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ p: [CodingKey]) -> String { p.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
        switch error {
        case let .typeMismatch(type, ctx):
            return "key '\(path(ctx.codingPath))': expected \(friendly(type))"
        case let .valueNotFound(type, ctx):
            return "key '\(path(ctx.codingPath))': expected \(friendly(type)), found nothing"
        case let .keyNotFound(key, ctx):
            return "missing key '\(path(ctx.codingPath + [key]))'"
        case let .dataCorrupted(ctx):
            return "key '\(path(ctx.codingPath))': \(ctx.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    static func friendly(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type: return "an integer"
        case is Float.Type, is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        default: return "\(type)"
        }
    }
}
