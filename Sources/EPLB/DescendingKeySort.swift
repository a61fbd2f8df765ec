/// Sorts distinct `UInt64` keys in descending order, in place: a median-of-three quicksort that
/// finishes short ranges with insertion sort. The balancer's sort keys are unique (the item index
/// is part of the key), so the result is the same as any other correct sort's, stable or not.
enum DescendingKeySort {
    static func sort(_ keys: UnsafeMutablePointer<UInt64>, count: Int) {
        quicksort(keys, 0, count - 1)
    }

    private static func quicksort(_ keys: UnsafeMutablePointer<UInt64>, _ low: Int, _ high: Int) {
        var low = low, high = high
        while high - low > 16 {
            let pivot = medianOfThree(keys[low], keys[(low + high) / 2], keys[high])
            var i = low, j = high
            while i <= j {
                while keys[i] > pivot { i += 1 }
                while keys[j] < pivot { j -= 1 }
                if i <= j {
                    (keys[i], keys[j]) = (keys[j], keys[i])
                    i += 1
                    j -= 1
                }
            }
            // Recurse into the smaller part, loop on the larger: the stack stays O(log n).
            if j - low < high - i {
                quicksort(keys, low, j)
                low = i
            } else {
                quicksort(keys, i, high)
                high = j
            }
        }
        insertionSort(keys, low, high)
    }

    private static func insertionSort(_ keys: UnsafeMutablePointer<UInt64>, _ low: Int, _ high: Int) {
        guard high > low else { return }
        for i in (low + 1)...high {
            let x = keys[i]
            var j = i
            while j > low && keys[j - 1] < x {
                keys[j] = keys[j - 1]
                j -= 1
            }
            keys[j] = x
        }
    }

    private static func medianOfThree(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        max(min(a, b), min(max(a, b), c))
    }
}
