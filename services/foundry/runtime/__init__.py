"""What every service shares: settings, errors, server bootstrap, object store, shard IO."""
