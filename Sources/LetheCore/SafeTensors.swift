// The safetensors weight format (huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of UTF-8 JSON describing each tensor, then the raw data buffer.
//
// A file is validated whole when it is opened — every entry, and that the entries tile the
// data buffer exactly — so a tensor is never read from a file that turns out to be broken
// later. The rules are those of the reference (Rust) library, plus a rejection of duplicate
// names, which it silently resolves to the last one. The file is memory mapped, so opening a
// multi-gigabyte checkpoint reads only its header; aligned F32 tensors borrow the mapping.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Element types

/// The element types the format defines, spelled as in the header.
public enum SafeTensorsDType: String, CaseIterable, Sendable {
    case bool = "BOOL"
    case f4 = "F4"
    case f6E2M3 = "F6_E2M3"
    case f6E3M2 = "F6_E3M2"
    case u8 = "U8"
    case i8 = "I8"
    case f8E5M2 = "F8_E5M2"
    case f8E4M3 = "F8_E4M3"
    case f8E8M0 = "F8_E8M0"
    case f8E4M3FNUZ = "F8_E4M3FNUZ"
    case f8E5M2FNUZ = "F8_E5M2FNUZ"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bits per element; F4 and F6 pack several elements into a byte.
    public var bitWidth: Int {
        switch self {
        case .f4: return 4
        case .f6E2M3, .f6E3M2: return 6
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }

    /// Whether `SafeTensorsFile.tensor(_:)` turns it into Float32 values.
    public var loadsAsFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

// MARK: - Errors

/// What is wrong with a safetensors file (or a write); `description` is one line that starts
/// with the file's path.
public struct SafeTensorsError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public enum Kind: Sendable, Equatable {
        case cannotOpen, fileTooSmall, headerTooLarge, headerPastEnd, headerNotUTF8, headerNotJSON
        case invalidMetadata, invalidEntry, duplicateName, unknownDType, invalidShape, shapeOverflow
        case sizeMismatch, offsetsOutOfRange, invalidOffsets, uncoveredData
        case unsupportedDType, tensorNotFound, invalidName, writeFailed
    }

    public let path: String
    public let kind: Kind
    public let reason: String

    public init(path: String, kind: Kind, reason: String) {
        self.path = path
        self.kind = kind
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
    public var errorDescription: String? { description }
}

// MARK: - Reading

/// One header entry. `dataOffsets` are relative to the start of the data buffer.
public struct SafeTensorInfo: Equatable, Sendable {
    public let name: String
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    public let dataOffsets: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { dataOffsets.count }
}

/// An opened, fully validated safetensors file.
public final class SafeTensorsFile: @unchecked Sendable {
    /// The reference library's limit: a larger header is a corrupt length, not a real model.
    public static let maximumHeaderLength = 100_000_000

    public let url: URL
    /// The header's `__metadata__` (empty when absent).
    public let metadata: [String: String]
    /// Every entry, in data-buffer order.
    public let entries: [SafeTensorInfo]
    private let entryIndex: [String: Int]
    private let mapping: MappedFile
    private let dataStart: Int

    public init(url: URL) throws {
        let path = url.path
        self.url = url
        mapping = try MappedFile(path: path)
        let header = try Self.readHeader(mapping, path: path)
        dataStart = 8 + header.count
        let bufferLength = mapping.size - dataStart
        let root = try HeaderValidator(path: path, bufferLength: bufferLength).validate(header)
        metadata = root.metadata
        entries = root.entries
        entryIndex = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// Tensor names, sorted.
    public var tensorNames: [String] { entries.map(\.name).sorted() }

    public func info(_ name: String) -> SafeTensorInfo? {
        entryIndex[name].map { entries[$0] }
    }

    /// The tensor's values as Float32. Aligned F32 data is shared with the mapping (copy on
    /// write: updating the tensor never changes the file); F16 and BF16 are converted.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = info(name) else {
            throw SafeTensorsError(path: url.path, kind: .tensorNotFound, reason: "no tensor named \(quoted(name))")
        }
        guard info.dtype.loadsAsFloat else {
            throw SafeTensorsError(path: url.path, kind: .unsupportedDType,
                                   reason: "tensor \(quoted(name)) is \(info.dtype.rawValue); only F32, F16 and BF16 load as Float32")
        }
        let source = UnsafeRawPointer(mapping.base + dataStart + info.dataOffsets.lowerBound)
        let count = info.elementCount
        switch info.dtype {
        case .f32:
            #if _endian(little)
            if Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0 {
                let pointer = UnsafeMutableRawPointer(mutating: source).assumingMemoryBound(to: Float.self)
                return Tensor(shape: info.shape, storage: TensorStorage(borrowing: pointer, count: count, owner: mapping))
            }
            #endif
            let storage = TensorStorage(count: count)
            for i in 0..<count {
                storage.pointer[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
            return Tensor(shape: info.shape, storage: storage)
        case .f16:
            let storage = TensorStorage(count: count)
            convertFloat16ToFloat(source, storage.pointer, count: count)
            return Tensor(shape: info.shape, storage: storage)
        case .bf16:
            let storage = TensorStorage(count: count)
            convertBFloat16ToFloat(source, storage.pointer, count: count)
            return Tensor(shape: info.shape, storage: storage)
        default:
            preconditionFailure("dtype \(info.dtype) passed the loadsAsFloat check")
        }
    }

    /// Every tensor, by name; throws if any has a dtype that does not load as Float32.
    public func allTensors() throws -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for entry in entries { tensors[entry.name] = try tensor(entry.name) }
        return tensors
    }

    /// Whether `tensor` shares this file's mapping instead of owning a copy.
    func isBorrowed(_ tensor: Tensor) -> Bool {
        let address = UnsafeRawPointer(tensor.pointer)
        return address >= UnsafeRawPointer(mapping.base) && address < UnsafeRawPointer(mapping.base + mapping.size)
    }

    private static func readHeader(_ mapping: MappedFile, path: String) throws -> UnsafeRawBufferPointer {
        func fail(_ kind: SafeTensorsError.Kind, _ reason: String) -> SafeTensorsError {
            SafeTensorsError(path: path, kind: kind, reason: reason)
        }
        guard mapping.size >= 8 else {
            throw fail(.fileTooSmall, mapping.size == 0
                ? "file is empty; a safetensors file starts with an 8-byte header length"
                : "file is \(mapping.size) bytes, too short for the 8-byte header length")
        }
        let length = UInt64(littleEndian: mapping.base.loadUnaligned(as: UInt64.self))
        guard length <= UInt64(maximumHeaderLength) else {
            throw fail(.headerTooLarge, "header length \(length) exceeds the \(maximumHeaderLength)-byte limit (not a safetensors file?)")
        }
        guard Int(length) <= mapping.size - 8 else {
            throw fail(.headerPastEnd, "header length \(length) runs past the end of the \(mapping.size)-byte file")
        }
        return UnsafeRawBufferPointer(start: mapping.base + 8, count: Int(length))
    }
}

/// A read-only view of a whole file, mapped privately so borrowed tensors may be written
/// (their pages are copied; the file never changes).
final class MappedFile: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let size: Int
    private let isMapped: Bool

    init(path: String) throws {
        func fail(_ reason: String) -> SafeTensorsError {
            SafeTensorsError(path: path, kind: .cannotOpen, reason: reason)
        }
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected below.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw fail("cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw fail("cannot stat: \(String(cString: strerror(errno)))") }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw fail("is a directory, not a safetensors file")
        default: throw fail("is not a regular file")
        }
        size = Int(status.st_size)
        guard size > 0 else {
            // mmap rejects an empty length; there is nothing to map anyway.
            base = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
            isMapped = false
            return
        }
        let pointer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        guard let pointer, pointer != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw fail("cannot map into memory: \(String(cString: strerror(errno)))")
        }
        base = pointer
        isMapped = true
    }

    deinit {
        if isMapped { munmap(base, size) } else { base.deallocate() }
    }
}

/// Checks a header against the format's rules and turns it into entries.
private struct HeaderValidator {
    let path: String
    let bufferLength: Int

    struct Result {
        var metadata: [String: String] = [:]
        var entries: [SafeTensorInfo] = []
    }

    private func fail(_ kind: SafeTensorsError.Kind, _ reason: String) -> SafeTensorsError {
        SafeTensorsError(path: path, kind: kind, reason: reason)
    }

    func validate(_ header: UnsafeRawBufferPointer) throws -> Result {
        try checkUTF8(header)
        let root: JSONValue
        do {
            var parser = JSONParser(bytes: header)
            root = try parser.parseDocument()
        } catch let error as JSONParser.SyntaxError {
            throw fail(.headerNotJSON, "header is not valid JSON: \(error.message) at byte \(error.offset) of the header")
        }
        guard case .object(let members) = root else {
            throw fail(.headerNotJSON, "header is \(root.kindName), expected a JSON object")
        }

        var result = Result()
        var seen = Set<String>()
        for (name, value) in members {
            guard seen.insert(name).inserted else {
                throw fail(.duplicateName, "\(name == "__metadata__" ? "__metadata__" : "tensor \(quoted(name))") appears twice in the header")
            }
            if name == "__metadata__" {
                result.metadata = try metadata(value)
            } else {
                result.entries.append(try entry(name, value))
            }
        }
        try checkTiling(&result.entries)
        return result
    }

    private func checkUTF8(_ header: UnsafeRawBufferPointer) throws {
        var iterator = header.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return
            case .error: throw fail(.headerNotUTF8, "header is not valid UTF-8 (at byte \(offset) of the header)")
            }
        }
    }

    private func metadata(_ value: JSONValue) throws -> [String: String] {
        guard case .object(let members) = value else {
            throw fail(.invalidMetadata, "__metadata__ is \(value.kindName), expected an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, item) in members {
            guard case .string(let text) = item else {
                throw fail(.invalidMetadata, "__metadata__ \(quoted(key)) is \(item.kindName), expected a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private func entry(_ name: String, _ value: JSONValue) throws -> SafeTensorInfo {
        let tensor = "tensor \(quoted(name))"
        guard case .object(let members) = value else {
            throw fail(.invalidEntry, "\(tensor) is \(value.kindName), expected an object with dtype, shape and data_offsets")
        }
        func field(_ key: String) throws -> JSONValue {
            guard let found = members.last(where: { $0.key == key }) else {
                throw fail(.invalidEntry, "\(tensor) has no \"\(key)\"")
            }
            return found.value
        }

        guard case .string(let dtypeName) = try field("dtype") else {
            throw fail(.invalidEntry, "\(tensor): \"dtype\" must be a string")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw fail(.unknownDType, "\(tensor): unknown dtype \(quoted(dtypeName))")
        }

        guard case .array(let dims) = try field("shape") else {
            throw fail(.invalidEntry, "\(tensor): \"shape\" must be an array of integers")
        }
        let shapeText = "[" + dims.map(\.text).joined(separator: ", ") + "]"
        var shape: [Int] = []
        for dim in dims {
            switch dim.integer {
            case .some(.value(let n)) where n >= 0: shape.append(n)
            case .some(.value), .some(.tooLarge(negative: true)):
                throw fail(.invalidShape, "\(tensor): shape \(shapeText) has a negative dimension")
            case .some(.tooLarge(negative: false)):
                throw fail(.shapeOverflow, "\(tensor): shape \(shapeText) has a dimension too large to address")
            case nil:
                throw fail(.invalidEntry, "\(tensor): shape \(shapeText) must contain only integers")
            }
        }

        guard case .array(let offsetValues) = try field("data_offsets"), offsetValues.count == 2 else {
            throw fail(.invalidEntry, "\(tensor): \"data_offsets\" must be two integers [begin, end]")
        }
        var offsets: [Int] = []
        for value in offsetValues {
            switch value.integer {
            case .some(.value(let n)) where n >= 0: offsets.append(n)
            case .some(.tooLarge(negative: false)):
                throw fail(.offsetsOutOfRange, "\(tensor): data_offsets [\(offsetValues.map(\.text).joined(separator: ", "))] lie beyond the \(bufferLength)-byte data buffer")
            default:
                throw fail(.invalidEntry, "\(tensor): \"data_offsets\" must be two non-negative integers, got [\(offsetValues.map(\.text).joined(separator: ", "))]")
            }
        }
        let (begin, end) = (offsets[0], offsets[1])
        let offsetsText = "data_offsets [\(begin), \(end)]"

        let (bits, overflow) = shape.reduce((dtype.bitWidth, false)) { acc, dim in
            let product = acc.0.multipliedReportingOverflow(by: dim)
            return (product.partialValue, acc.1 || product.overflow)
        }
        guard !overflow else {
            throw fail(.shapeOverflow, "\(tensor): shape \(shapeText) of \(dtype.rawValue) overflows the byte size")
        }
        guard bits % 8 == 0 else {
            throw fail(.sizeMismatch, "\(tensor): shape \(shapeText) of \(dtype.rawValue) is not a whole number of bytes (\(bits) bits)")
        }
        guard begin <= end else {
            throw fail(.invalidOffsets, "\(tensor): \(offsetsText) end before they begin")
        }
        guard end - begin == bits / 8 else {
            throw fail(.sizeMismatch, "\(tensor): \(offsetsText) do not match shape \(shapeText) of \(dtype.rawValue) (\(bits / 8) bytes)")
        }
        guard end <= bufferLength else {
            throw fail(.offsetsOutOfRange, "\(tensor): \(offsetsText) run past the end of the \(bufferLength)-byte data buffer (file truncated?)")
        }
        return SafeTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// The entries must cover the data buffer exactly, in some order, without overlap: what the
    /// reference writer produces and its reader demands.
    private func checkTiling(_ entries: inout [SafeTensorInfo]) throws {
        entries.sort {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound)
        }
        var previous: SafeTensorInfo?
        for entry in entries {
            let end = previous?.dataOffsets.upperBound ?? 0
            let begin = entry.dataOffsets.lowerBound
            guard begin != end else {
                previous = entry
                continue
            }
            let offsets = "data_offsets [\(begin), \(entry.dataOffsets.upperBound)]"
            let neighbour = previous.map { "tensor \(quoted($0.name)) [\($0.dataOffsets.lowerBound), \($0.dataOffsets.upperBound)]" }
            if begin < end, let neighbour {
                throw fail(.invalidOffsets, "tensor \(quoted(entry.name)): \(offsets) overlap \(neighbour)")
            } else if let neighbour {
                throw fail(.invalidOffsets, "tensor \(quoted(entry.name)): \(offsets) leave a gap after \(neighbour)")
            } else {
                throw fail(.invalidOffsets, "tensor \(quoted(entry.name)): \(offsets) leave a gap at the start of the data buffer")
            }
        }
        let covered = previous?.dataOffsets.upperBound ?? 0
        guard covered == bufferLength else {
            throw fail(.uncoveredData, "the last \(bufferLength - covered) bytes of the \(bufferLength)-byte data buffer belong to no tensor")
        }
    }
}

/// `name` in double quotes, with control characters escaped so an error stays on one line.
fileprivate func quoted(_ name: String) -> String {
    var out = "\""
    for scalar in name.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f || scalar == "\u{2028}" || scalar == "\u{2029}":
            out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

// MARK: - Header JSON

/// A parsed JSON value. Objects keep their members in order, duplicates included, so the
/// validator can reject repeated names; numbers keep their text so integers stay exact.
private indirect enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    enum Integer {
        case value(Int)
        case tooLarge(negative: Bool)
    }

    /// The value of a number written as an integer (no fraction or exponent), else nil.
    var integer: Integer? {
        guard case .number(let text) = self else { return nil }
        let negative = text.hasPrefix("-")
        let digits = negative ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        guard let value = Int(text) else { return .tooLarge(negative: negative) }
        return .value(value)
    }

    var kindName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }

    /// Short text for error messages.
    var text: String {
        switch self {
        case .number(let text): return text
        case .string(let s): return quoted(s)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array: return "[...]"
        case .object: return "{...}"
        }
    }
}

/// A strict RFC 8259 parser over the header bytes (already known to be valid UTF-8).
private struct JSONParser {
    struct SyntaxError: Error {
        let message: String
        let offset: Int
    }

    /// Deeper nesting than any real header; the limit keeps a hostile file from exhausting the stack.
    static let maximumDepth = 64

    let bytes: UnsafeRawBufferPointer
    var position = 0
    var depth = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard position == bytes.count else { throw error("unexpected \(describeCurrent()) after the top-level value") }
        return value
    }

    private func error(_ message: String) -> SyntaxError {
        SyntaxError(message: message, offset: position)
    }

    private func describeCurrent() -> String {
        guard position < bytes.count else { return "end of header" }
        let byte = bytes[position]
        if byte == 0 { return "NUL byte" }
        if byte >= 0x20 && byte < 0x7f { return "character '\(Character(Unicode.Scalar(byte)))'" }
        return String(format: "byte 0x%02x", byte)
    }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) { position += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws {
        guard position < bytes.count, bytes[position] == byte else {
            throw error("expected '\(Character(Unicode.Scalar(byte)))', found \(describeCurrent())")
        }
        position += 1
    }

    private mutating func parseValue() throws -> JSONValue {
        guard position < bytes.count else { throw error("unexpected end of header") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try parseLiteral("null"); return .null
        default: throw error("unexpected \(describeCurrent())")
        }
    }

    private mutating func enter() throws {
        depth += 1
        guard depth <= Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth) levels") }
    }

    private mutating func parseObject() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a string key, found \(describeCurrent())")
            }
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            members.append((key, try parseValue()))
            skipWhitespace()
            guard position < bytes.count else { throw error("unterminated object") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            } else {
                throw error("expected ',' or '}', found \(describeCurrent())")
            }
        }
    }

    private mutating func parseArray() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else { throw error("unterminated array") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            } else {
                throw error("expected ',' or ']', found \(describeCurrent())")
            }
        }
    }

    private mutating func parseLiteral(_ word: StaticString) throws {
        let start = position
        for i in 0..<word.utf8CodeUnitCount {
            guard position < bytes.count, bytes[position] == word.utf8Start[i] else {
                position = start
                throw error("unexpected \(describeCurrent())")
            }
            position += 1
        }
    }

    private mutating func parseNumber() throws -> String {
        let start = position
        func isDigit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9") }
        func digits() throws {
            guard isDigit(position) else { throw error("expected a digit, found \(describeCurrent())") }
            while isDigit(position) { position += 1 }
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        if position < bytes.count, bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            try digits()
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            try digits()
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            try digits()
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    private mutating func parseString() throws -> String {
        position += 1  // opening quote
        var out = [UInt8]()
        while true {
            guard position < bytes.count else { throw error("unterminated string") }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { throw error("unterminated string") }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): out.append(contentsOf: try parseUnicodeEscape())
                default:
                    position -= 1
                    throw error("invalid escape \\\(Character(Unicode.Scalar(escape)))")
                }
            case 0..<0x20:
                throw error("control character in string")
            default:
                out.append(byte)
                position += 1
            }
        }
    }

    /// After `\u`: four hex digits, or a surrogate pair written as two escapes; returns UTF-8.
    private mutating func parseUnicodeEscape() throws -> [UInt8] {
        var value = try hex4()
        if (0xD800..<0xDC00).contains(value) {
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                throw error("unpaired surrogate in \\u escape")
            }
            position += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
            value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(value) {
            throw error("unpaired surrogate in \\u escape")
        }
        guard let scalar = Unicode.Scalar(value) else { throw error("invalid \\u escape") }
        return Array(String(Character(scalar)).utf8)
    }

    private mutating func hex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard position < bytes.count, let digit = hexValue(bytes[position]) else {
                throw error("expected a hex digit, found \(describeCurrent())")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}

// MARK: - Writing

public enum SafeTensors {
    /// The element types Lethe writes.
    public enum WriteDType: Sendable {
        case f32, f16

        public var dtype: SafeTensorsDType { self == .f32 ? .f32 : .f16 }
    }

    /// Every tensor of the file at `url`, as Float32.
    public static func load(_ url: URL) throws -> [String: Tensor] {
        try SafeTensorsFile(url: url).allTensors()
    }

    /// Writes `tensors` to `url` atomically: into a temporary file beside it, then renamed, so
    /// a crash never leaves a half-written checkpoint under the final name. The layout is the
    /// reference writer's (names sorted, header padded with spaces to a multiple of 8 bytes),
    /// so the same tensors give the same bytes.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:],
                             dtype: WriteDType = .f32, to url: URL) throws {
        let path = url.path
        if tensors["__metadata__"] != nil {
            throw SafeTensorsError(path: path, kind: .invalidName, reason: "\"__metadata__\" is reserved and cannot name a tensor")
        }
        let names = tensors.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let header = encodeHeader(names.map { ($0, tensors[$0]!.shape) }, metadata: metadata, dtype: dtype.dtype)

        let directory = url.deletingLastPathComponent().path
        let temporaryPath = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let writer = try FileWriter(path: temporaryPath, reportedPath: path)
        do {
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try writer.append($0) }
            try header.withUnsafeBytes { try writer.append($0) }
            for name in names { try writeData(tensors[name]!, dtype: dtype, to: writer) }
            try writer.finish()
            guard rename(temporaryPath, path) == 0 else { throw writer.failure("cannot rename the temporary file into place") }
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// The header bytes (without the length prefix) for tensors written in `names` order.
    static func encodeHeader(_ entries: [(String, [Int])], metadata: [String: String], dtype: SafeTensorsDType) -> [UInt8] {
        var json = "{"
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                .map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            members.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, shape) in entries {
            let end = offset + Tensor.elementCount(shape) * dtype.bitWidth / 8
            let shapeText = shape.map(String.init).joined(separator: ",")
            members.append("\(jsonString(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shapeText)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        json += members.joined(separator: ",") + "}"
        var bytes = Array(json.utf8)
        // Padding keeps the data buffer 8-byte aligned in the file, so readers can map tensors in place.
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8))
        return bytes
    }

    /// JSON string literal escaped as serde_json does (only quotes, backslashes and control characters).
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func writeData(_ tensor: Tensor, dtype: WriteDType, to writer: FileWriter) throws {
        // Chunks bound the conversion buffer for multi-gigabyte tensors.
        let chunk = 1 << 20
        var start = 0
        switch dtype {
        case .f32:
            #if _endian(little)
            try writer.append(UnsafeRawBufferPointer(start: tensor.pointer, count: tensor.count * 4))
            #else
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk * 4, alignment: 4)
            defer { buffer.deallocate() }
            while start < tensor.count {
                let n = min(chunk, tensor.count - start)
                for i in 0..<n { buffer.storeBytes(of: tensor.pointer[start + i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                try writer.append(UnsafeRawBufferPointer(rebasing: buffer[0..<(4 * n)]))
                start += n
            }
            #endif
        case .f16:
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk * 2, alignment: 2)
            defer { buffer.deallocate() }
            while start < tensor.count {
                let n = min(chunk, tensor.count - start)
                convertFloatToFloat16(tensor.pointer + start, buffer.baseAddress!, count: n)
                try writer.append(UnsafeRawBufferPointer(rebasing: buffer[0..<(2 * n)]))
                start += n
            }
        }
    }
}

/// A new file written with plain POSIX calls, so every failure (disk full, permissions) is
/// reported with its errno rather than trapped.
private final class FileWriter {
    let path: String
    let reportedPath: String
    private var fd: Int32

    init(path: String, reportedPath: String) throws {
        self.path = path
        self.reportedPath = reportedPath
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SafeTensorsError(path: reportedPath, kind: .writeFailed,
                                   reason: "cannot create a temporary file beside it: \(String(cString: strerror(errno)))")
        }
    }

    func failure(_ what: String) -> SafeTensorsError {
        SafeTensorsError(path: reportedPath, kind: .writeFailed, reason: "\(what): \(String(cString: strerror(errno)))")
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("cannot write")
            }
            done += n
        }
    }

    /// Flushes to disk before the rename, so the final name never points at unwritten data.
    func finish() throws {
        guard fsync(fd) == 0 else { throw failure("cannot flush to disk") }
        let result = close(fd)
        fd = -1
        guard result == 0 else { throw failure("cannot close") }
    }

    func abandon() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(path)
    }
}
