/// A table keyed by small integers from a base (descriptors from 0,
/// process ids from 100): a lookup is an index, not a hash, and keys come
/// out in order.
struct IndexedTable<Value> {
    private var storage: ContiguousArray<Value?> = []
    let base: Int32

    init(base: Int32 = 0) { self.base = base }

    subscript(key: Int32) -> Value? {
        get {
            let index = Int(key - base)
            return index >= 0 && index < storage.count ? storage[index] : nil
        }
        set {
            let index = Int(key - base)
            precondition(index >= 0, "key below the table's base")
            if index >= storage.count {
                guard newValue != nil else { return }
                storage.append(contentsOf: repeatElement(nil, count: index - storage.count + 1))
            }
            storage[index] = newValue
        }
    }

    /// Changes a value that exists, in place (taken out while `body` runs).
    mutating func update(_ key: Int32, _ body: (inout Value) -> Void) {
        let index = Int(key - base)
        guard index >= 0, index < storage.count, case .some(var value) = storage[index] else {
            preconditionFailure("no value for \(key)")
        }
        storage[index] = nil
        body(&value)
        storage[index] = value
    }

    @discardableResult
    mutating func removeValue(forKey key: Int32) -> Value? {
        let value = self[key]
        if value != nil { self[key] = nil }
        return value
    }

    /// The keys with a value, in order.
    var keys: [Int32] {
        storage.indices.compactMap { storage[$0] == nil ? nil : Int32($0) + base }
    }

    /// The values, in key order.
    var values: [Value] { storage.compactMap { $0 } }

    var isEmpty: Bool { storage.allSatisfy { $0 == nil } }
}
