// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IERC223Receiver
/// @notice What an ERC223 token calls on a recipient contract after crediting it.
interface IERC223Receiver {
    /// @notice `_value` tokens from `_sender` have been credited to this contract; `_data` is the
    ///         transfer's payload. Reverting rejects the transfer.
    function tokenFallback(address _sender, uint256 _value, bytes calldata _data) external;
}
