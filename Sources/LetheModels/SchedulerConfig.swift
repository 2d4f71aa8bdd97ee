// diffusers' `scheduler_config.json`: one struct for the keys of DDPMScheduler and DDIMScheduler,
// so a config written for one class constructs the other (diffusers' `from_config`). Defaults are
// diffusers'. Keys this code does not know are kept and written back, as diffusers does, so a real
// checkpoint's config survives a round trip through Lethe.

import Foundation
import LetheCore

/// How betas run over the training timesteps (`beta_schedule`).
public enum BetaSchedule: String, CaseIterable, Sendable {
    case linear
    case scaledLinear = "scaled_linear"
    case squaredcosCapV2 = "squaredcos_cap_v2"
}

/// What the denoiser predicts (`prediction_type`).
public enum PredictionType: String, CaseIterable, Sendable {
    case epsilon
    case vPrediction = "v_prediction"
    case sample
}

/// How inference timesteps are spread over the training range (`timestep_spacing`).
public enum TimestepSpacing: String, CaseIterable, Sendable {
    case leading
    case trailing
    case linspace
}

/// DDPM's posterior variance (`variance_type`). diffusers also names `fixed_large_log`, which it
/// then takes the square root of a logarithm of, so it is refused here rather than giving NaNs.
public enum VarianceType: String, CaseIterable, Sendable {
    case fixedSmall = "fixed_small"
    case fixedSmallLog = "fixed_small_log"
    case fixedLarge = "fixed_large"
    case learned
    case learnedRange = "learned_range"
}

public struct SchedulerConfig: Equatable {
    /// The file name diffusers gives a scheduler's config inside `scheduler/`.
    public static let fileName = "scheduler_config.json"
    /// Written as `_diffusers_version` when the config did not come from a file: the diffusers
    /// release whose scheduler behaviour this code reproduces.
    public static let referenceDiffusersVersion = "0.42.1"

    public var className: String?
    public var diffusersVersion: String?
    public var numTrainTimesteps: Int = 1000
    public var betaStart: Double = 0.0001
    public var betaEnd: Double = 0.02
    public var betaSchedule: BetaSchedule = .linear
    /// Replaces the beta schedule when set; one value per training timestep.
    public var trainedBetas: [Double]? = nil
    public var clipSample: Bool = true
    public var clipSampleRange: Double = 1.0
    /// DDIM: whether the step into t < 0 uses ᾱ = 1 rather than ᾱ₀.
    public var setAlphaToOne: Bool = true
    public var stepsOffset: Int = 0
    public var predictionType: PredictionType = .epsilon
    public var timestepSpacing: TimestepSpacing = .leading
    public var thresholding: Bool = false
    public var sampleMaxValue: Double = 1.0
    public var dynamicThresholdingRatio: Double = 0.995
    /// DDPM only.
    public var varianceType: VarianceType = .fixedSmall
    public var rescaleBetasZeroSnr: Bool = false
    /// Keys not in the list above, kept verbatim for writing back.
    public var extraKeys: [String: JSONValue] = [:]
    /// Known keys that were present in the file read; a class writes the other class's keys only
    /// when they were there (diffusers keeps a DDPM config's `variance_type` in a DDIM config).
    var keysPresent: Set<String> = []

    /// Equal when every setting is: where a config came from (`keysPresent`) does not count.
    public static func == (a: SchedulerConfig, b: SchedulerConfig) -> Bool {
        a.className == b.className && a.diffusersVersion == b.diffusersVersion
            && a.numTrainTimesteps == b.numTrainTimesteps && a.betaStart == b.betaStart && a.betaEnd == b.betaEnd
            && a.betaSchedule == b.betaSchedule && a.trainedBetas == b.trainedBetas && a.clipSample == b.clipSample
            && a.clipSampleRange == b.clipSampleRange && a.setAlphaToOne == b.setAlphaToOne
            && a.stepsOffset == b.stepsOffset && a.predictionType == b.predictionType
            && a.timestepSpacing == b.timestepSpacing && a.thresholding == b.thresholding
            && a.sampleMaxValue == b.sampleMaxValue && a.dynamicThresholdingRatio == b.dynamicThresholdingRatio
            && a.varianceType == b.varianceType && a.rescaleBetasZeroSnr == b.rescaleBetasZeroSnr
            && a.extraKeys == b.extraKeys
    }

    public init(numTrainTimesteps: Int = 1000, betaStart: Double = 0.0001, betaEnd: Double = 0.02,
                betaSchedule: BetaSchedule = .linear, trainedBetas: [Double]? = nil,
                clipSample: Bool = true, clipSampleRange: Double = 1.0, setAlphaToOne: Bool = true,
                stepsOffset: Int = 0, predictionType: PredictionType = .epsilon,
                timestepSpacing: TimestepSpacing = .leading, thresholding: Bool = false,
                sampleMaxValue: Double = 1.0, dynamicThresholdingRatio: Double = 0.995,
                varianceType: VarianceType = .fixedSmall, rescaleBetasZeroSnr: Bool = false) {
        self.numTrainTimesteps = numTrainTimesteps
        self.betaStart = betaStart
        self.betaEnd = betaEnd
        self.betaSchedule = betaSchedule
        self.trainedBetas = trainedBetas
        self.clipSample = clipSample
        self.clipSampleRange = clipSampleRange
        self.setAlphaToOne = setAlphaToOne
        self.stepsOffset = stepsOffset
        self.predictionType = predictionType
        self.timestepSpacing = timestepSpacing
        self.thresholding = thresholding
        self.sampleMaxValue = sampleMaxValue
        self.dynamicThresholdingRatio = dynamicThresholdingRatio
        self.varianceType = varianceType
        self.rescaleBetasZeroSnr = rescaleBetasZeroSnr
    }

    /// Every key either scheduler class reads, in diffusers' spelling.
    public static let knownKeys: Set<String> = [
        "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "clip_sample",
        "clip_sample_range", "set_alpha_to_one", "steps_offset", "prediction_type", "timestep_spacing",
        "thresholding", "sample_max_value", "dynamic_thresholding_ratio", "variance_type", "rescale_betas_zero_snr",
    ]

    /// Reads `scheduler_config.json` (or a folder holding one).
    public init(contentsOf url: URL) throws {
        var isDirectory: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? url.appendingPathComponent(Self.fileName) : url
        try self.init(json: JSONConfig(contentsOf: file))
    }

    /// Parses a config already read; errors name `json.source` and the key.
    public init(json: JSONConfig) throws {
        self.init()
        className = try json.optionalString("_class_name")
        diffusersVersion = try json.optionalString("_diffusers_version")
        numTrainTimesteps = try json.int("num_train_timesteps", default: numTrainTimesteps)
        betaStart = try json.double("beta_start", default: betaStart)
        betaEnd = try json.double("beta_end", default: betaEnd)
        betaSchedule = try Self.choice(json, "beta_schedule", default: betaSchedule)
        clipSample = try json.bool("clip_sample", default: clipSample)
        clipSampleRange = try json.double("clip_sample_range", default: clipSampleRange)
        setAlphaToOne = try json.bool("set_alpha_to_one", default: setAlphaToOne)
        stepsOffset = try json.int("steps_offset", default: stepsOffset)
        predictionType = try Self.choice(json, "prediction_type", default: predictionType)
        timestepSpacing = try Self.choice(json, "timestep_spacing", default: timestepSpacing)
        thresholding = try json.bool("thresholding", default: thresholding)
        sampleMaxValue = try json.double("sample_max_value", default: sampleMaxValue)
        dynamicThresholdingRatio = try json.double("dynamic_thresholding_ratio", default: dynamicThresholdingRatio)
        varianceType = try Self.choice(json, "variance_type", default: varianceType)
        rescaleBetasZeroSnr = try json.bool("rescale_betas_zero_snr", default: rescaleBetasZeroSnr)
        trainedBetas = try Self.doubles(json, "trained_betas")
        for (key, value) in json.values where !key.hasPrefix("_") {
            if Self.knownKeys.contains(key) { keysPresent.insert(key) } else { extraKeys[key] = value }
        }
        try validate(source: json.source)
    }

    /// Checks the ranges the schedulers rely on; types were checked while parsing.
    public func validate(source: String = "scheduler config") throws {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(source: source, key: key, message) }
        guard numTrainTimesteps >= 1 else { throw fail("num_train_timesteps", "expected at least 1, found \(numTrainTimesteps)") }
        if rescaleBetasZeroSnr {
            guard numTrainTimesteps >= 2 else { throw fail("rescale_betas_zero_snr", "needs num_train_timesteps of 2 or more") }
        }
        guard stepsOffset >= 0 else { throw fail("steps_offset", "expected 0 or more, found \(stepsOffset)") }
        if let trainedBetas {
            guard trainedBetas.count == numTrainTimesteps else {
                throw fail("trained_betas", "expected \(numTrainTimesteps) values (num_train_timesteps), found \(trainedBetas.count)")
            }
            guard trainedBetas.allSatisfy({ $0 > 0 && $0 < 1 }) else { throw fail("trained_betas", "expected every beta in (0, 1)") }
        } else if betaSchedule != .squaredcosCapV2 {
            // A zero beta makes ᾱ₀ = 1, and the posterior variance at t = 0 becomes 0/0.
            guard betaStart > 0, betaStart < 1 else { throw fail("beta_start", "expected a value in (0, 1), found \(betaStart)") }
            guard betaEnd > 0, betaEnd < 1 else { throw fail("beta_end", "expected a value in (0, 1), found \(betaEnd)") }
        }
        guard clipSampleRange > 0 else { throw fail("clip_sample_range", "expected a positive number, found \(clipSampleRange)") }
        if thresholding {
            guard dynamicThresholdingRatio >= 0, dynamicThresholdingRatio <= 1 else {
                throw fail("dynamic_thresholding_ratio", "expected a value in [0, 1], found \(dynamicThresholdingRatio)")
            }
            guard sampleMaxValue >= 1 else { throw fail("sample_max_value", "expected 1 or more, found \(sampleMaxValue)") }
        }
        if let value = extraKeys[MixedFrameNoise.configKey], mixedFrameNoise == nil {
            throw fail(MixedFrameNoise.configKey, "expected a number of 0 or more (PYoCo's α), found \(value)")
        }
    }

    /// The JSON diffusers would write for `className`, whose own keys are `classKeys`.
    public func json(className: String, classKeys: [String]) -> JSONConfig {
        var values = extraKeys
        let all: [String: JSONValue] = [
            "num_train_timesteps": .int(numTrainTimesteps),
            "beta_start": .double(betaStart),
            "beta_end": .double(betaEnd),
            "beta_schedule": .string(betaSchedule.rawValue),
            "trained_betas": trainedBetas.map { .array($0.map(JSONValue.double)) } ?? .null,
            "clip_sample": .bool(clipSample),
            "clip_sample_range": .double(clipSampleRange),
            "set_alpha_to_one": .bool(setAlphaToOne),
            "steps_offset": .int(stepsOffset),
            "prediction_type": .string(predictionType.rawValue),
            "timestep_spacing": .string(timestepSpacing.rawValue),
            "thresholding": .bool(thresholding),
            "sample_max_value": .double(sampleMaxValue),
            "dynamic_thresholding_ratio": .double(dynamicThresholdingRatio),
            "variance_type": .string(varianceType.rawValue),
            "rescale_betas_zero_snr": .bool(rescaleBetasZeroSnr),
        ]
        for (key, value) in all where classKeys.contains(key) || keysPresent.contains(key) { values[key] = value }
        values["_class_name"] = .string(className)
        values["_diffusers_version"] = .string(diffusersVersion ?? Self.referenceDiffusersVersion)
        return JSONConfig(values: values, source: Self.fileName)
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ json: JSONConfig, _ key: String, default d: T) throws -> T
    where T.RawValue == String {
        let raw = try json.string(key, default: d.rawValue)
        guard let value = T(rawValue: raw) else {
            let options = T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw ConfigError(source: json.source, key: key, "expected one of \(options), found \"\(raw)\"")
        }
        return value
    }

    private static func doubles(_ json: JSONConfig, _ key: String) throws -> [Double]? {
        guard json.has(key) else { return nil }
        guard case let .array(items)? = json[key] else {
            throw ConfigError(source: json.source, key: key, "expected a list of numbers or null, found \(json[key]!)")
        }
        return try items.map {
            switch $0 {
            case let .int(i): return Double(i)
            case let .double(x): return x
            default: throw ConfigError(source: json.source, key: key, "expected a list of numbers, found \($0) in it")
            }
        }
    }
}
