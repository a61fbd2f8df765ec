import Foundation

/// Where fetch and load progress is shown.
public struct DownloadProgress: Sendable {
    public let report: @Sendable (String) -> Void
    /// Whether pip's own progress bar is passed through.
    public let passThrough: Bool

    public init(passThrough: Bool, report: @escaping @Sendable (String) -> Void) {
        self.passThrough = passThrough
        self.report = report
    }

    /// Lines on standard error, with pip's progress bar shown.
    public static let stderr = DownloadProgress(passThrough: true) { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Nothing shown.
    public static let silent = DownloadProgress(passThrough: false) { _ in }
}
