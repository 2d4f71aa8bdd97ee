// Reading diffusers/transformers config.json files with errors that name the file and the key.
// Unknown keys are kept (and written back) so a real checkpoint's config survives a round trip.

import Foundation
import LetheCore

public struct ConfigError: Error, CustomStringConvertible {
    public let source: String
    public let key: String?
    public let message: String
    public init(source: String, key: String? = nil, _ message: String) {
        self.source = source
        self.key = key
        self.message = message
    }
    public var description: String { key.map { "\(source): \($0): \(message)" } ?? "\(source): \(message)" }
}

public struct JSONConfig {
    public let source: String
    public private(set) var values: [String: JSONValue]

    public init(values: [String: JSONValue] = [:], source: String = "config") {
        self.values = values
        self.source = source
    }

    public init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ConfigError(source: url.path, "file not found")
        }
        let data = try Data(contentsOf: url)
        let parsed: JSONValue
        do {
            parsed = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw ConfigError(source: url.path, "not valid JSON")
        }
        guard case let .object(dict) = parsed else { throw ConfigError(source: url.path, "expected a JSON object at the top level") }
        self.init(values: dict, source: url.path)
    }

    public func has(_ key: String) -> Bool {
        if let v = values[key], v != .null { return true }
        return false
    }

    private func typeError(_ key: String, _ expected: String) -> ConfigError {
        ConfigError(source: source, key: key, "expected \(expected), found \(values[key].map { "\($0)" } ?? "nothing")")
    }

    private func missing(_ key: String, _ expected: String) -> ConfigError {
        ConfigError(source: source, key: key, "missing (\(expected) is required)")
    }

    public func int(_ key: String, default d: Int? = nil) throws -> Int {
        switch values[key] {
        case let .int(i)?: return i
        case let .double(x)? where x == x.rounded() && abs(x) < 1e15: return Int(x)
        case nil, .null?: if let d { return d }; throw missing(key, "an integer")
        default: throw typeError(key, "an integer")
        }
    }

    public func double(_ key: String, default d: Double? = nil) throws -> Double {
        switch values[key] {
        case let .int(i)?: return Double(i)
        case let .double(x)?: return x
        case nil, .null?: if let d { return d }; throw missing(key, "a number")
        default: throw typeError(key, "a number")
        }
    }

    public func bool(_ key: String, default d: Bool? = nil) throws -> Bool {
        switch values[key] {
        case let .bool(b)?: return b
        case nil, .null?: if let d { return d }; throw missing(key, "true or false")
        default: throw typeError(key, "true or false")
        }
    }

    public func string(_ key: String, default d: String? = nil) throws -> String {
        switch values[key] {
        case let .string(s)?: return s
        case nil, .null?: if let d { return d }; throw missing(key, "a string")
        default: throw typeError(key, "a string")
        }
    }

    public func optionalString(_ key: String) throws -> String? { has(key) ? try string(key) : nil }
    public func optionalInt(_ key: String) throws -> Int? { has(key) ? try int(key) : nil }
    public func optionalDouble(_ key: String) throws -> Double? { has(key) ? try double(key) : nil }

    public func intArray(_ key: String, default d: [Int]? = nil) throws -> [Int] {
        switch values[key] {
        case let .array(a)?:
            return try a.map { v -> Int in
                switch v {
                case let .int(i): return i
                default: throw typeError(key, "a list of integers")
                }
            }
        case nil, .null?: if let d { return d }; throw missing(key, "a list of integers")
        default: throw typeError(key, "a list of integers")
        }
    }

    /// An integer or a list of `count` integers (diffusers allows both, e.g. attention_head_dim).
    public func intOrIntArray(_ key: String, count: Int, default d: Int? = nil) throws -> [Int] {
        if case let .int(i)? = values[key] { return Array(repeating: i, count: count) }
        if !has(key), let d { return Array(repeating: d, count: count) }
        let arr = try intArray(key)
        guard arr.count == count else {
            throw ConfigError(source: source, key: key, "expected \(count) values, found \(arr.count)")
        }
        return arr
    }

    public func stringArray(_ key: String, default d: [String]? = nil) throws -> [String] {
        switch values[key] {
        case let .array(a)?:
            return try a.map { v -> String in
                guard case let .string(s) = v else { throw typeError(key, "a list of strings") }
                return s
            }
        case nil, .null?: if let d { return d }; throw missing(key, "a list of strings")
        default: throw typeError(key, "a list of strings")
        }
    }

    public subscript(key: String) -> JSONValue? {
        get { values[key] }
        set { values[key] = newValue }
    }

    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(JSONValue.object(values))
    }

    public func write(to url: URL) throws { try writeAtomically(jsonData(), to: url) }
}
