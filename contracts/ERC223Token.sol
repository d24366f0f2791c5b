// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC223Receiver} from "./interfaces/IERC223Receiver.sol";

/// @title ERC223Token
/// @notice The test token: OpenZeppelin's ERC20 plus ERC223's `transfer(to, value, data)`,
///         which calls `tokenFallback(from, value, data)` on a recipient that has code.
/// @dev The whole initial supply goes to the deployer. Storage is OpenZeppelin ERC20's
///      (balances, allowances, total supply, name, symbol).
contract ERC223Token is ERC20 {
    /// @param initialSupply Tokens (with 18 decimals) credited to the deployer.
    constructor(uint256 initialSupply) ERC20("uRaiden Test Token", "URDN") {
        _mint(msg.sender, initialSupply);
    }

    /// @notice Moves `value` tokens to `to` and, if `to` is a contract, calls its
    ///         `tokenFallback(msg.sender, value, data)`; a revert there undoes the transfer.
    /// @return Always true (failures revert).
    function transfer(address to, uint256 value, bytes calldata data) external returns (bool) {
        _transfer(msg.sender, to, value);
        if (to.code.length != 0) IERC223Receiver(to).tokenFallback(msg.sender, value, data);
        return true;
    }
}
