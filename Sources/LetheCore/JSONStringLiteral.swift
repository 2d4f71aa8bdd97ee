// A JSON string literal escaped the way serde_json and Python's json.dumps(ensure_ascii=False)
// escape: quotes, backslashes and control characters only, everything else as it is. Files whose
// bytes must equal the reference writers' (safetensors headers, tokenizer vocabularies) use it.

import Foundation

public func jsonStringLiteral(_ text: String) -> String {
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
