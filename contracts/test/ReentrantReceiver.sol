// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRaidenMicroTransferChannels} from "../interfaces/IRaidenMicroTransferChannels.sol";
import {IERC223Receiver} from "../interfaces/IERC223Receiver.sol";

/// @title ReentrantReceiver
/// @notice Test-only: a channel receiver that is a contract. It closes channels with a balance
///         proof and, when the payout reaches its `tokenFallback`, tries to close the same
///         channel again with the same proof. It never reverts from `tokenFallback`, so a
///         payout always goes through; whether the attack worked is left in its storage.
contract ReentrantReceiver is IERC223Receiver {
    /// @notice The channel contract this receiver works with.
    IRaidenMicroTransferChannels public immutable channels;

    /// @notice How many times `tokenFallback` tried to re-enter.
    uint256 public reentryAttempts;
    /// @notice How many of those re-entries succeeded (must stay 0).
    uint256 public reentrySuccesses;
    /// @notice The revert data of the last failed re-entry.
    bytes public lastReentryError;

    uint32 private _openBlockNumber;
    uint192 private _balance;
    bytes private _signature;
    bool private _armed;

    /// @param _channels The channel contract.
    constructor(IRaidenMicroTransferChannels _channels) {
        channels = _channels;
    }

    /// @notice Closes a channel to this contract as its receiver, armed to re-enter on payout.
    function closeAsReceiver(uint32 openBlockNumber, uint192 balance, bytes calldata signature) external {
        _openBlockNumber = openBlockNumber;
        _balance = balance;
        _signature = signature;
        _armed = true;
        channels.close(address(this), openBlockNumber, balance, signature);
        _armed = false;
    }

    /// @inheritdoc IERC223Receiver
    function tokenFallback(address, uint256, bytes calldata) external {
        if (!_armed) return;
        _armed = false;
        reentryAttempts += 1;
        try channels.close(address(this), _openBlockNumber, _balance, _signature) {
            reentrySuccesses += 1;
        } catch (bytes memory reason) {
            lastReentryError = reason;
        }
    }
}
