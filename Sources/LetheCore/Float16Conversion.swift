// IEEE half (F16) and bfloat16 (BF16) conversions done on bit patterns, so they behave the same
// on every platform (Swift's `Float16` is missing on macOS/x86_64) and match NumPy and PyTorch
// bit for bit: half → float and bfloat16 → float are exact, float → half rounds to nearest even.

/// The Float32 value of the IEEE half with bit pattern `h` (exact).
@inline(__always)
public func float16BitsToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1f
    let mantissa = UInt32(h & 0x3ff)
    switch exponent {
    case 0:
        // Zero or subnormal: mantissa · 2⁻²⁴ is exact in Float32.
        let magnitude = Float(mantissa) * 0x1p-24
        return Float(bitPattern: sign | magnitude.bitPattern)
    case 0x1f:
        return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
    default:
        // Rebias the exponent from 15 to 127.
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}

/// The IEEE half nearest to `value` (ties to even); overflow gives ±infinity, NaN stays a quiet NaN.
@inline(__always)
public func floatToFloat16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let magnitude = bits & 0x7fff_ffff
    if magnitude > 0x7f80_0000 {
        // NaN: keep the top payload bits and force the quiet bit, as F16C hardware does.
        return sign | 0x7e00 | UInt16(truncatingIfNeeded: (magnitude & 0x7f_ffff) >> 13)
    }
    if magnitude >= 0x4780_0000 { return sign | 0x7c00 }  // ≥ 2¹⁶ (or infinity): beyond the half range
    if magnitude < 0x3880_0000 {
        // Below 2⁻¹⁴: a half subnormal counts units of 2⁻²⁴; scaling by 2²⁴ is exact, and a
        // result of 1024 correctly becomes the smallest normal (0x0400).
        let units = (Float(bitPattern: magnitude) * 0x1p24).rounded(.toNearestOrEven)
        return sign | UInt16(units)
    }
    let exponent = (magnitude >> 23) - 112
    let mantissa = magnitude & 0x7f_ffff
    var half = (exponent << 10) | (mantissa >> 13)
    let rest = mantissa & 0x1fff
    // A carry out of the mantissa bumps the exponent, up to infinity: that is the right rounding.
    if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) { half += 1 }
    return sign | UInt16(half)
}

/// The Float32 value of the bfloat16 with bit pattern `b` (exact: bfloat16 is Float32's top half).
@inline(__always)
public func bfloat16BitsToFloat(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}

/// Converts `count` little-endian halves at `source` (any alignment) into `destination`.
public func convertFloat16ToFloat(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, grain: 1 << 16) { range in
        for i in range {
            let h = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            destination[i] = float16BitsToFloat(h)
        }
    }
}

/// Converts `count` little-endian bfloat16 values at `source` (any alignment) into `destination`.
public func convertBFloat16ToFloat(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, grain: 1 << 16) { range in
        for i in range {
            let b = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            destination[i] = bfloat16BitsToFloat(b)
        }
    }
}

/// Converts `count` floats into little-endian halves at `destination` (any alignment).
public func convertFloatToFloat16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, count: Int) {
    parallelFor(count, grain: 1 << 16) { range in
        for i in range {
            destination.storeBytes(of: floatToFloat16Bits(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
    }
}
