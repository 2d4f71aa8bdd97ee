// Modules own parameters under their state-dict keys, so loading or saving a
// diffusers/transformers checkpoint is a walk of the module tree ("down_blocks.0.resnets.1.conv1.weight")
// with no remapping tables.
//
// Buffers are torch's persistent buffers (`register_buffer`): tensors saved and loaded with the
// parameters under their keys, but never trained (AnimateDiff's sinusoidal `pos_embed.pe`).

public enum StateDictError: Error, CustomStringConvertible {
    case missingKeys(source: String, keys: [String])
    case unexpectedKeys(source: String, keys: [String])
    case shapeMismatch(source: String, key: String, expected: [Int], found: [Int])

    public var description: String {
        func list(_ keys: [String]) -> String {
            keys.prefix(5).joined(separator: ", ") + (keys.count > 5 ? " and \(keys.count - 5) more" : "")
        }
        switch self {
        case let .missingKeys(source, keys): return "\(source): missing \(keys.count) parameter(s): \(list(keys))"
        case let .unexpectedKeys(source, keys): return "\(source): \(keys.count) unexpected parameter(s): \(list(keys))"
        case let .shapeMismatch(source, key, expected, found):
            return "\(source): parameter \(key) has shape \(found), the model config needs \(expected)"
        }
    }
}

open class Module {
    public private(set) var ownParameters: [(key: String, tensor: Tensor)] = []
    public private(set) var children: [(key: String, module: Module)] = []
    public private(set) var ownBuffers: [(key: String, tensor: Tensor)] = []

    public init() {}

    /// Registers a parameter under its state-dict key and returns it (trainable by default).
    @discardableResult
    public func parameter(_ key: String, _ tensor: Tensor) -> Tensor {
        tensor.requiresGrad = true
        ownParameters.append((key, tensor))
        return tensor
    }

    /// Registers a buffer under its state-dict key and returns it: part of `stateDict()` and of
    /// `load(stateDict:)`, but not of `parameters`, so it is never trained or counted.
    @discardableResult
    public func buffer(_ key: String, _ tensor: Tensor) -> Tensor {
        tensor.requiresGrad = false
        ownBuffers.append((key, tensor))
        return tensor
    }

    /// Registers a child module under its key ("conv1", or "0" for list items).
    @discardableResult
    public func child<M: Module>(_ key: String, _ module: M) -> M {
        children.append((key, module))
        return module
    }

    /// Registers a list of children as "key.0", "key.1", ... (torch.nn.ModuleList).
    @discardableResult
    public func children<M: Module>(_ key: String, _ modules: [M]) -> [M] {
        let list = ModuleList()
        for (i, m) in modules.enumerated() { list.child(String(i), m) }
        child(key, list)
        return modules
    }

    /// Every parameter with its full dotted key, in registration order.
    public func namedParameters(prefix: String = "") -> [(key: String, tensor: Tensor)] {
        var out = ownParameters.map { (prefix + $0.key, $0.tensor) }
        for (k, m) in children { out += m.namedParameters(prefix: prefix + k + ".") }
        return out
    }

    /// Every buffer with its full dotted key, in registration order.
    public func namedBuffers(prefix: String = "") -> [(key: String, tensor: Tensor)] {
        var out = ownBuffers.map { (prefix + $0.key, $0.tensor) }
        for (k, m) in children { out += m.namedBuffers(prefix: prefix + k + ".") }
        return out
    }

    /// Every tensor of the state dict: parameters, then buffers.
    public func namedStateTensors() -> [(key: String, tensor: Tensor)] { namedParameters() + namedBuffers() }

    public var parameters: [Tensor] { namedParameters().map(\.tensor) }
    public var trainableParameters: [Tensor] { parameters.filter(\.requiresGrad) }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Freezes (or unfreezes) every parameter below this module.
    public func setTrainable(_ trainable: Bool) {
        for p in parameters { p.requiresGrad = trainable; if !trainable { p.grad = nil } }
    }

    /// The child at a dotted path, e.g. "down_blocks.1.attentions.0".
    public func module(at path: String) -> Module? {
        var m: Module = self
        for part in path.split(separator: ".") where !part.isEmpty {
            guard let next = m.children.first(where: { $0.key == part })?.module else { return nil }
            m = next
        }
        return m
    }

    /// Parameters and buffers by key.
    public func stateDict() -> [String: Tensor] {
        Dictionary(namedStateTensors().map { ($0.key, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    /// Copies values from `stateDict` into the parameters and buffers. Every one must be present with
    /// its exact shape; keys the model does not have are an error unless listed in `ignoring`.
    /// Nothing is written unless everything fits.
    public func load(stateDict: [String: Tensor], source: String, ignoringUnexpected ignore: (String) -> Bool = { _ in false }) throws {
        let named = namedStateTensors()
        let missing = named.map(\.key).filter { stateDict[$0] == nil }
        if !missing.isEmpty { throw StateDictError.missingKeys(source: source, keys: missing) }
        let known = Set(named.map(\.key))
        let unexpected = stateDict.keys.filter { !known.contains($0) && !ignore($0) }.sorted()
        if !unexpected.isEmpty { throw StateDictError.unexpectedKeys(source: source, keys: unexpected) }
        for (key, p) in named {
            let t = stateDict[key]!
            if t.shape != p.shape { throw StateDictError.shapeMismatch(source: source, key: key, expected: p.shape, found: t.shape) }
        }
        for (key, p) in named { p.assign(stateDict[key]!) }
    }
}

/// torch.nn.ModuleList: children keyed "0", "1", ...
public final class ModuleList: Module {}
