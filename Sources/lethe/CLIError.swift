// How every subcommand reports failure: one line on stderr, then an exit status that tells bad
// input (the user can fix the file or argument) from a failure of Lethe or the machine.

import ArgumentParser
import Foundation
import LetheCore
import LetheModels

/// An error as the CLI reports it to its user.
struct CLIError: Error, CustomStringConvertible {
    enum Status: Int32 {
        /// A file or argument the user gave is wrong.
        case badInput = 1
        /// The input was fine but the work failed (disk full, a bug).
        case failure = 2
    }

    let message: String
    let status: Status

    init(_ message: String, status: Status = .badInput) {
        // One line whatever the source error printed, so scripts can read stderr line by line.
        self.message = message.split(whereSeparator: \.isNewline).joined(separator: "; ")
        self.status = status
    }

    /// `error` as the user should see it.
    init(_ error: Error) {
        switch error {
        case let error as CLIError:
            self = error
        case let error as BadInput:
            self.init(String(describing: error), status: .badInput)
        case let error as SafeTensorsError:
            self.init(error.description, status: error.kind == .writeFailed ? .failure : .badInput)
        case let error as LocalizedError where error.errorDescription != nil:
            self.init(error.errorDescription!, status: .failure)
        default:
            self.init(String(describing: error), status: .failure)
        }
    }

    var description: String { message }
}

/// Errors caused by a file or argument the user gave: exit status 1.
protocol BadInput: Error {}
extension ConfigError: BadInput {}
extension ModelFolderError: BadInput {}
extension StateDictError: BadInput {}
extension CLIPTokenizerError: BadInput {}
extension PipelineError: BadInput {}
extension RecipeError: BadInput {}
extension TrainingError: BadInput {}
extension ShapeError: BadInput {}

/// A subcommand whose errors are reported the CLI's way: it implements `execute()`, and any error
/// it throws becomes one `error: …` line on stderr and the matching exit status.
protocol LetheCommand: ParsableCommand {
    func execute() throws
}

extension LetheCommand {
    func run() throws {
        do {
            try execute()
        } catch let exit as ExitCode {
            throw exit
        } catch let exit as CleanExit {
            throw exit
        } catch {
            let reported = CLIError(error)
            FileHandle.standardError.write(Data("error: \(reported.message)\n".utf8))
            throw ExitCode(reported.status.rawValue)
        }
    }
}

/// The `--dtype` of commands that write weights: their storage type (computation is float32 either way).
func weightStorage(_ name: String) throws -> SafeTensors.WriteDType {
    switch name {
    case "float32": return .f32
    case "float16": return .f16
    default: throw CLIError("--dtype: expected float32 or float16, found \(name)")
    }
}
