/// Whether the real backend can run here; filled in by the real backend.
public enum RealBackendAvailability {
    public static let backends: [any ConformanceBackend] = []
}
