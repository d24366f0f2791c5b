// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC223Token} from "../ERC223Token.sol";
import {IERC223Receiver} from "../interfaces/IERC223Receiver.sol";

/// @title CallbackToken
/// @notice Test-only: an ERC223Token whose plain `transfer(to, value)` also calls
///         `tokenFallback(msg.sender, value, "")` on a contract recipient, as early ERC223
///         drafts and ERC777-style hooks do. It gives a receiver contract a chance to
///         re-enter the channel contract while it pays out.
contract CallbackToken is ERC223Token {
    /// @param initialSupply Tokens credited to the deployer.
    constructor(uint256 initialSupply) ERC223Token(initialSupply) {}

    /// @notice ERC20 transfer, then the recipient's `tokenFallback` if it has code.
    function transfer(address to, uint256 value) public override returns (bool) {
        _transfer(msg.sender, to, value);
        if (to.code.length != 0) IERC223Receiver(to).tokenFallback(msg.sender, value, "");
        return true;
    }
}
