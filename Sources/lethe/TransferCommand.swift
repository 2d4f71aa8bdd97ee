// `lethe transfer`: put a text encoder into another model after checking that it fits.

import ArgumentParser
import Foundation
import LetheUnlearn

struct Transfer: LetheCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a text encoder into another model that uses the same encoder (e.g. an erased image encoder into a video model).",
        discussion: """
            Refuses, naming the property and both values, unless the tokenizers are identical (when \
            the source has one), hidden_size, max_position_embeddings and vocab_size agree, and the \
            hidden size equals the target UNet's cross_attention_dim. Writes the target model with the \
            new text_encoder/ (and tokenizer/) plus transfer.json with the SHA-256 of the weights.
            """)

    @Option(help: "The source: a model folder or its text_encoder/ folder.")
    var encoder: String
    @Option(help: "The model folder to put the encoder into.")
    var into: String
    @Option(help: "The model folder to write (must not exist).")
    var out: String

    func execute() throws {
        let outURL = URL(fileURLWithPath: out)
        if FileManager.default.fileExists(atPath: outURL.path) {
            throw CLIError("--out \(out) already exists; choose another folder or remove it")
        }
        let plan = try EncoderTransfer.plan(encoder: URL(fileURLWithPath: encoder), into: URL(fileURLWithPath: into))
        try plan.write(to: outURL)
        print("wrote \(out) (text_encoder from \(plan.encoderDirectory.path))")
    }
}
