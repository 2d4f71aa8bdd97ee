/// GPT-2's reversible table from bytes to characters (`bytes_to_unicode` in CLIP and transformers).
///
/// Byte-level BPE works on the UTF-8 bytes of a word, but its vocabulary files are text. Printable
/// Latin-1 bytes stand for themselves; the 68 others (controls, space, DEL, no-break space, soft
/// hyphen) are moved to U+0100… in byte order, so no symbol of the vocabulary is whitespace or a
/// control character.
struct BPEByteAlphabet: Sendable {
    /// The character standing for each byte, indexed by the byte.
    let characters: [Unicode.Scalar]
    private let bytesByCharacter: [UInt32: UInt8]

    init() {
        func keepsItsCode(_ byte: Int) -> Bool {
            (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
        }
        var characters: [Unicode.Scalar] = []
        var nextMoved: UInt32 = 256
        for byte in 0..<256 {
            if keepsItsCode(byte) {
                characters.append(Unicode.Scalar(UInt8(byte)))
            } else {
                characters.append(Unicode.Scalar(nextMoved)!)
                nextMoved += 1
            }
        }
        self.characters = characters
        var bytesByCharacter: [UInt32: UInt8] = [:]
        for (byte, character) in characters.enumerated() { bytesByCharacter[character.value] = UInt8(byte) }
        self.bytesByCharacter = bytesByCharacter
    }

    func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(characters[Int(byte)]) }
        return String(scalars)
    }

    /// Bytes of a token's text. Characters outside the table (in added tokens, say) stand for their
    /// own UTF-8 bytes, as in the tokenizers library's byte-level decoder.
    func decode(_ text: String, into bytes: inout [UInt8]) {
        for scalar in text.unicodeScalars {
            if let byte = bytesByCharacter[scalar.value] {
                bytes.append(byte)
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
    }
}
